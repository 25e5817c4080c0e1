/*
 * Room in a byte buffer that grows by doubling: the one way the audit
 * batches, worker frames, control replies and remediactl's tables grow.
 * Header-only, as those live in different programs and libraries.
 */
#ifndef REMEDIAD_GROWBUF_H
#define REMEDIAD_GROWBUF_H

#include <stdint.h>
#include <stdlib.h>

/*
 * Makes *buf (of *cap bytes) hold at least `need` bytes, doubling from
 * `first` when empty; its contents stay. -1 when memory runs out (*buf is
 * then unchanged).
 */
static inline int
growbuf_reserve(char **buf, size_t *cap, size_t need, size_t first)
{
	size_t ncap;
	char *nbuf;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : first;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -1;
		ncap *= 2;
	}
	if ((nbuf = realloc(*buf, ncap)) == NULL)
		return -1;
	*buf = nbuf;
	*cap = ncap;
	return 0;
}

#endif
