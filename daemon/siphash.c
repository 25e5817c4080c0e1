/*
 * SipHash-2-4 (Aumasson and Bernstein): the keyed hash of every table
 * indexed by what comes from outside (alert ids, hosts, users), so that
 * crafted values cannot pile up in one probe chain. Each table draws its
 * own key with siphash_key(). The 128-bit tag stands for a value itself
 * where only equality matters (the dedup window, playbook keys): fixed
 * memory whatever the value's length, and under a key that never leaves
 * the process nobody can craft two values with one tag.
 */
#include <string.h>
#include <sys/random.h>

#include "remediad/siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

struct sip {
	uint64_t v0, v1, v2, v3;
};

static inline void
sip_round(struct sip *s)
{
	s->v0 += s->v1; s->v1 = ROTL(s->v1, 13); s->v1 ^= s->v0;
	s->v0 = ROTL(s->v0, 32);
	s->v2 += s->v3; s->v3 = ROTL(s->v3, 16); s->v3 ^= s->v2;
	s->v0 += s->v3; s->v3 = ROTL(s->v3, 21); s->v3 ^= s->v0;
	s->v2 += s->v1; s->v1 = ROTL(s->v1, 17); s->v1 ^= s->v2;
	s->v2 = ROTL(s->v2, 32);
}

static inline void
sip_rounds(struct sip *s, int n)
{
	while (n-- > 0)
		sip_round(s);
}

/* Keys the state and absorbs the message, its length in the last word. */
static inline void
sip_absorb(struct sip *s, const uint64_t key[2], uint64_t v1_tweak,
    const unsigned char *p, size_t len)
{
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	s->v0 = 0x736f6d6570736575ULL ^ key[0];
	s->v1 = 0x646f72616e646f6dULL ^ key[1] ^ v1_tweak;
	s->v2 = 0x6c7967656e657261ULL ^ key[0];
	s->v3 = 0x7465646279746573ULL ^ key[1];
	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&m, p + i, 8); /* little-endian hosts, like the rest */
		s->v3 ^= m;
		sip_rounds(s, 2);
		s->v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	s->v3 ^= b;
	sip_rounds(s, 2);
	s->v0 ^= b;
}

uint64_t
siphash24(const uint64_t key[2], const unsigned char *p, size_t len)
{
	struct sip s;

	sip_absorb(&s, key, 0, p, len);
	s.v2 ^= 0xff;
	sip_rounds(&s, 4);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void
siphash24_128(const uint64_t key[2], const unsigned char *p, size_t len,
    uint64_t out[2])
{
	struct sip s;

	sip_absorb(&s, key, 0xee, p, len);
	s.v2 ^= 0xee;
	sip_rounds(&s, 4);
	out[0] = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
	s.v1 ^= 0xdd;
	sip_rounds(&s, 4);
	out[1] = s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

int
siphash_key(uint64_t key[2])
{
	return getrandom(key, 2 * sizeof *key, 0) == 2 * sizeof *key ? 0 : -1;
}
