/*
 * SipHash-2-4, the keyed hash of tables indexed by outside values (see
 * siphash.c).
 */
#ifndef REMEDIAD_SIPHASH_H
#define REMEDIAD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash24(const uint64_t key[2], const unsigned char *p, size_t len);
/* SipHash-2-4 with its 128-bit tag, in out[0] (low) and out[1]. */
void siphash24_128(const uint64_t key[2], const unsigned char *p, size_t len,
    uint64_t out[2]);
/* A fresh random key; -1 when the kernel has none to give. */
int siphash_key(uint64_t key[2]);

#endif
