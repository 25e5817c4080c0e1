/*
 * A main() for the fuzz targets where libFuzzer is not available (gcc): runs
 * LLVMFuzzerTestOneInput once on every file named, and on every regular file
 * directly inside each directory named, then prints how many it ran.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the target on one file; -1 when it cannot be read. */
static int
run_file(const char *path)
{
	uint8_t *buf;
	size_t len = 0, cap;
	FILE *fp;
	struct stat st;

	fp = fopen(path, "rb");
	if (fp == NULL || fstat(fileno(fp), &st) == -1) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (fp != NULL)
			fclose(fp);
		return -1;
	}
	/*
	 * Exactly the file's size, so ASan sees a read one byte past the end
	 * (malloc(0) may return NULL: keep one byte then, and pass size 0).
	 */
	cap = (size_t)st.st_size;
	buf = malloc(cap > 0 ? cap : 1);
	if (buf == NULL) {
		fprintf(stderr, "%s: out of memory\n", path);
		fclose(fp);
		return -1;
	}
	if (cap > 0)
		len = fread(buf, 1, cap, fp);
	if (ferror(fp) || len != cap) {
		fprintf(stderr, "%s: short read\n", path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

/* Runs every regular file of a directory, in name order; -1 on error. */
static int
run_dir(const char *dir, unsigned long *count)
{
	struct dirent **ents;
	int n, rc = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	if (n == -1) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		int plen;

		plen = snprintf(path, sizeof path, "%s/%s", dir,
		    ents[i]->d_name);
		if (rc == 0 && plen > 0 && (size_t)plen < sizeof path &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) == -1)
				rc = -1;
			else
				(*count)++;
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int
main(int argc, char **argv)
{
	unsigned long count = 0;
	struct stat st;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == -1) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &count) == -1)
				return 1;
		} else if (run_file(argv[i]) == -1)
			return 1;
		else
			count++;
	}
	printf("%s: ran %lu inputs\n", argv[0], count);
	/* An empty corpus would pass without testing anything. */
	return count > 0 ? 0 : 1;
}
