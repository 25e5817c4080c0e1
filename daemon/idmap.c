/*
 * The id map (see idmap.h): open addressing with linear probing over a
 * power-of-two table kept at most half full, and deletion by backward
 * shift, so there are no tombstones and a probe stops at the first empty
 * slot. Some ids come from outside (alert ids, hosts): they are hashed
 * with SipHash under a key of the map's own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remediad/idmap.h"
#include "remediad/siphash.h"

struct idmap_slot {
	const char *id; /* NULL: empty */
	uint64_t hash;
	void *v;
};

struct idmap {
	struct idmap_slot *slots;
	size_t cap, n; /* cap: a power of two */
	uint64_t key[2];
};

static uint64_t
idmap_hash(const struct idmap *m, const char *s)
{
	return siphash24(m->key, (const unsigned char *)s, strlen(s));
}

struct idmap *
idmap_new(void)
{
	struct idmap *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	m->cap = 64;
	if (siphash_key(m->key) == -1 ||
	    (m->slots = calloc(m->cap, sizeof *m->slots)) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
idmap_free(struct idmap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m);
}

size_t
idmap_size(const struct idmap *m)
{
	return m->n;
}

void
idmap_foreach(const struct idmap *m, void (*fn)(void *v))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].id != NULL)
			fn(m->slots[i].v);
}

/* The slot of id, or the empty slot where it would go. */
static size_t
idmap_find(const struct idmap *m, const char *id, uint64_t h)
{
	size_t mask = m->cap - 1, i = (size_t)h & mask;

	while (m->slots[i].id != NULL &&
	    (m->slots[i].hash != h || strcmp(m->slots[i].id, id) != 0))
		i = (i + 1) & mask;
	return i;
}

static int
idmap_grow(struct idmap *m)
{
	struct idmap_slot *old = m->slots;
	size_t ocap = m->cap;
	struct idmap_slot *slots = calloc(ocap * 2, sizeof *slots);

	if (slots == NULL)
		return -1;
	m->slots = slots;
	m->cap = ocap * 2;
	for (size_t i = 0; i < ocap; i++)
		if (old[i].id != NULL)
			m->slots[idmap_find(m, old[i].id, old[i].hash)] = old[i];
	free(old);
	return 0;
}

int
idmap_put(struct idmap *m, const char *id, void *v)
{
	uint64_t h = idmap_hash(m, id);
	size_t i;

	if ((m->n + 1) * 2 > m->cap && idmap_grow(m) == -1)
		return -1;
	i = idmap_find(m, id, h);
	if (m->slots[i].id == NULL)
		m->n++;
	m->slots[i] = (struct idmap_slot){id, h, v};
	return 0;
}

void *
idmap_get(const struct idmap *m, const char *id)
{
	const struct idmap_slot *sl = &m->slots[idmap_find(m, id,
	    idmap_hash(m, id))];

	return sl->id != NULL ? sl->v : NULL;
}

void
idmap_del(struct idmap *m, const char *id)
{
	size_t mask = m->cap - 1, i = idmap_find(m, id, idmap_hash(m, id)), j;

	if (m->slots[i].id == NULL)
		return;
	m->slots[i] = (struct idmap_slot){0};
	m->n--;
	/*
	 * Backward shift: each entry after the hole that may live in it (its
	 * home is not between the hole and itself) moves into it.
	 */
	for (j = (i + 1) & mask; m->slots[j].id != NULL; j = (j + 1) & mask) {
		size_t home = (size_t)m->slots[j].hash & mask;

		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			m->slots[j] = (struct idmap_slot){0};
			i = j;
		}
	}
}
