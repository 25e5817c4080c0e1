/*
 * Small file-system helpers shared by the daemon and remediactl: making a
 * directory path, reading a bounded file, and mapping a whole file
 * read-only.
 */
#ifndef REMEDIAD_FSUTIL_H
#define REMEDIAD_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/*
 * mkdir -p: missing parents get parent_mode, the last component `mode`
 * (exactly, whatever the umask). Returns 1 if the last one was created,
 * 0 if it existed, -1 with errno.
 */
int fs_mkdirs(const char *dir, mode_t parent_mode, mode_t mode);

struct fs_map {
	const char *base; /* NULL for an empty file */
	size_t size;
};

/*
 * Reads a whole regular file of at most max bytes, NUL-terminated (caller
 * frees); *len is its length. NULL with *cause ("PATH: reason", freed by
 * the caller; NULL when memory ran out) when it cannot: absent, not a
 * regular file (a FIFO is refused without blocking), too large, or a read
 * error.
 */
char *fs_read_file(const char *path, size_t max, size_t *len, char **cause);
/* The same, path relative to dirfd (or AT_FDCWD). */
char *fs_read_file_at(int dirfd, const char *path, size_t max, size_t *len,
    char **cause);

/* Maps `path` read-only. -1 with errno; fs_unmap() undoes it. */
int fs_map(const char *path, struct fs_map *m);
void fs_unmap(struct fs_map *m);

#endif
