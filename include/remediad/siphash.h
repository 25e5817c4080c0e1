/*
 * SipHash-2-4, the keyed hash of tables indexed by outside values (see
 * siphash.c).
 */
#ifndef REMEDIAD_SIPHASH_H
#define REMEDIAD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t siphash24(const uint64_t key[2], const unsigned char *p, size_t len);
/* A fresh random key; -1 when the kernel has none to give. */
int siphash_key(uint64_t key[2]);

#endif
