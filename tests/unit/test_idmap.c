/*
 * The id map against a plain array of what it should hold: puts, gets,
 * replacements and deletions in a random order (deletions exercise the
 * backward shift, which must leave every other id findable), growth past
 * several doublings, and absent ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "remediad/idmap.h"

#define N 5000

static char ids[N][16];
static int present[N];
static int values[N];

static uint32_t
next_rand(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
check_all(const struct idmap *m)
{
	size_t n = 0;

	for (int i = 0; i < N; i++) {
		void *v = idmap_get(m, ids[i]);
		if (present[i]) {
			assert_ptr_equal(v, &values[i]);
			n++;
		} else {
			assert_null(v);
		}
	}
	assert_int_equal(idmap_size(m), n);
}

static void
test_random_ops(void **state)
{
	struct idmap *m = idmap_new();
	uint32_t seed = 7;

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < N; i++)
		snprintf(ids[i], sizeof ids[i], "A%d.%d", i / 7, i % 7);
	memset(present, 0, sizeof present);
	for (int round = 0; round < 40000; round++) {
		int i = (int)(next_rand(&seed) % N);
		if (next_rand(&seed) % 3 == 0) {
			idmap_del(m, ids[i]);
			present[i] = 0;
		} else {
			assert_int_equal(idmap_put(m, ids[i], &values[i]), 0);
			present[i] = 1;
		}
		if (round % 5000 == 0)
			check_all(m);
	}
	check_all(m);
	/* Everything out, in order: the map ends empty and still works. */
	for (int i = 0; i < N; i++) {
		idmap_del(m, ids[i]);
		present[i] = 0;
	}
	check_all(m);
	assert_int_equal(idmap_put(m, "P1", &values[0]), 0);
	assert_ptr_equal(idmap_get(m, "P1"), &values[0]);
	assert_null(idmap_get(m, "P2"));
	idmap_del(m, "P2"); /* absent: nothing */
	assert_int_equal(idmap_size(m), 1);
	idmap_free(m);
	idmap_free(NULL);
}

static void
test_replace(void **state)
{
	struct idmap *m = idmap_new();
	int a, b;

	(void)state;
	assert_int_equal(idmap_put(m, "A1.0", &a), 0);
	assert_int_equal(idmap_put(m, "A1.0", &b), 0);
	assert_int_equal(idmap_size(m), 1);
	assert_ptr_equal(idmap_get(m, "A1.0"), &b);
	idmap_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_ops),
	    cmocka_unit_test(test_replace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
