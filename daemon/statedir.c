/*
 * The state directory: created on first start with mode 0750, and locked
 * with flock(2) so two daemons never share one audit log and one state.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remediad/daemon.h"
#include "remediad/fsutil.h"
#include "remediad/log.h"

int
statedir_lock(const char *dir, char **cause)
{
	char path[4096], pid[32], other[32];
	struct stat st;
	ssize_t n;
	int fd;

	*cause = NULL;
	switch (fs_mkdirs(dir, 0755, 0750)) {
	case -1:
		if (asprintf(cause, "state_dir %s: %s", dir, strerror(errno)) == -1)
			*cause = NULL;
		return -1;
	case 1:
		log_info("created state directory %s", dir);
		break;
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		if (asprintf(cause, "state_dir %s: not a directory", dir) == -1)
			*cause = NULL;
		return -1;
	}
	snprintf(path, sizeof path, "%s/remediad.lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1) {
		if (asprintf(cause, "%s: %s", path, strerror(errno)) == -1)
			*cause = NULL;
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int saved = errno;
		n = pread(fd, other, sizeof other - 1, 0);
		other[n > 0 ? n : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		if (saved == EWOULDBLOCK) {
			if (asprintf(cause, "another remediad%s%s%s is running "
					    "on state_dir %s (lock %s held)",
				other[0] ? " (pid " : "", other,
				other[0] ? ")" : "", dir, path) == -1)
				*cause = NULL;
		} else if (asprintf(cause, "%s: flock: %s", path,
			       strerror(saved)) == -1)
			*cause = NULL;
		close(fd);
		return -1;
	}
	/* The pid is informational: the lock itself is the flock. */
	n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("%s: cannot record pid", path);
	return fd;
}
