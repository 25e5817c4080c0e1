/*
 * File-system helpers shared by the daemon and remediactl: mkdir -p with
 * exact modes, and read-only maps of whole files (audit segments).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remediad/fsutil.h"

int
fs_mkdirs(const char *dir, mode_t parent_mode, mode_t mode)
{
	char *copy = strdup(dir), *p;

	if (copy == NULL)
		return -1;
	for (p = copy + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, parent_mode) == -1 && errno != EEXIST) {
			int saved = errno;
			free(copy);
			errno = saved;
			return -1;
		}
		*p = '/';
	}
	free(copy);
	if (mkdir(dir, mode) == -1)
		return errno == EEXIST ? 0 : -1;
	/* mkdir honours the umask; the mode is meant exactly. */
	if (chmod(dir, mode) == -1)
		return -1;
	return 1;
}

int
fs_map(const char *path, struct fs_map *m)
{
	struct stat st;
	void *base;
	int fd;

	m->base = NULL;
	m->size = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (st.st_size == 0) {
		close(fd);
		return 0;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return -1;
	madvise(base, (size_t)st.st_size, MADV_SEQUENTIAL);
	m->base = base;
	m->size = (size_t)st.st_size;
	return 0;
}

void
fs_unmap(struct fs_map *m)
{
	if (m->base != NULL)
		munmap((void *)m->base, m->size);
	m->base = NULL;
	m->size = 0;
}

/* "PATH: reason" into *cause (NULL if even that fails). */
static void
fs_cause(char **cause, const char *path, const char *reason)
{
	if (asprintf(cause, "%s: %s", path, reason) == -1)
		*cause = NULL;
}

char *
fs_read_file_at(int dirfd, const char *path, size_t max, size_t *len,
    char **cause)
{
	struct stat st;
	char *buf;
	size_t off = 0;
	ssize_t n;
	int fd;

	*cause = NULL;
	/* O_NONBLOCK: opening a FIFO planted at the path must not hang. */
	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		fs_cause(cause, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		fs_cause(cause, path, "not a regular file");
		close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		char why[64];
		snprintf(why, sizeof why, "larger than %zu bytes", max);
		fs_cause(cause, path, why);
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		fs_cause(cause, path, "out of memory");
		close(fd);
		return NULL;
	}
	/* Read up to the size seen; a file growing meanwhile is cut there. */
	while (off < (size_t)st.st_size) {
		n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			fs_cause(cause, path, strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*len = off;
	return buf;
}

char *
fs_read_file(const char *path, size_t max, size_t *len, char **cause)
{
	return fs_read_file_at(AT_FDCWD, path, max, len, cause);
}
