/*
 * bench_audit: the audit log's throughput on N records (append with
 * sync=group and sync=none, replay, verify), each next to a plain
 * write()+fdatasync() loop of the same bytes measured in the same run.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>

#include "remediad/audit.h"
#include "remediad/config.h"
#include "remediad/log.h"

#define DEFAULT_N	   1000000ull
#define CHUNK		   10000 /* records appended per loop callback */
#define SYNC_RECORDS	   4096
#define SEGMENT_SIZE	   (64ull * 1024 * 1024)
#define TARGET_GROUP_RPS   200000.0
#define TARGET_REPLAY_SECS 2.0 /* for 1M records; scaled to N */
#define MB		   1e6

/* One append run: the loop-side state of a phase. */
struct run {
	struct event_base *base;
	struct audit *a;
	struct event *ev_chunk;
	struct event *ev_keepalive;
	uint64_t n;
	uint64_t appended;
	uint64_t last_seq;
	uint64_t backpressure; /* refusals "too far behind", waited out */
	struct timespec t0, t1;	  /* CLOCK_MONOTONIC */
	struct timespec cpu0, cpu1; /* the loop thread's CPU time */
	int durable;		    /* the last record's callback fired */
	int failed;
	const char *cause;
};

/* What a phase measured. */
struct figure {
	uint64_t records;
	uint64_t bytes;
	double secs;
	double cpu_secs;
	uint64_t syncs;
	uint64_t backpressure;
};

static const char *workdir;

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (workdir != NULL)
		nftw(workdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	workdir = NULL;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_audit: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cleanup();
	exit(1);
}

static double
elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	    (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void
now(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
}

/* Flushes what earlier phases left dirty, so it does not bleed into a timing. */
static void
settle(void)
{
	int fd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || syncfs(fd) == -1)
		die("syncfs %s: %s", workdir, strerror(errno));
	close(fd);
}

/* ---- Appending --------------------------------------------------------- */

/* A realistic alert record's fields, about 300 bytes serialized. */
static json_t *
record_fields(uint64_t i)
{
	char alert[40], host[32];

	snprintf(alert, sizeof alert, "%08" PRIx64 "-%04x-4%03x-a%03x-%012" PRIx64,
	    i * 2654435761u & 0xffffffffu, (unsigned)(i & 0xffff),
	    (unsigned)(i >> 4 & 0xfff), (unsigned)(i >> 8 & 0xfff),
	    (uint64_t)(i * 11400714819323198485ull & 0xffffffffffffull));
	snprintf(host, sizeof host, "ws-%04u.corp.example",
	    (unsigned)(i % 5000));
	return json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, "
	    "s:I}",
	    "alert", alert,
	    "source", "ecs",
	    "severity", 73,
	    "host", host,
	    "rule", "Credential Dumping via LSASS Access",
	    "technique", "T1003.001",
	    "user", "CORP\\svc-backup",
	    "process", "C:\\Windows\\System32\\rundll32.exe",
	    "topic", "alerts",
	    "partition", 3,
	    "offset", (json_int_t)i);
}

static void
durable_cb(void *arg, int ok)
{
	struct run *r = arg;

	now(&r->t1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &r->cpu1);
	r->durable = 1;
	if (!ok) {
		r->failed = 1;
		r->cause = "the last record was never written";
	}
	event_base_loopbreak(r->base);
}

/* The log refused for backlog: go on once the writer has caught up some. */
static void
resume_cb(void *arg, int ok)
{
	struct run *r = arg;

	if (!ok) {
		r->failed = 1;
		r->cause = "the log was closed while waiting for the writer";
		event_base_loopbreak(r->base);
		return;
	}
	event_active(r->ev_chunk, EV_READ, 0);
}

/*
 * Appends the next CHUNK records, then yields to the loop (re-activating
 * itself), so the writer's completion events are serviced in between as
 * they are in the daemon.
 */
static void
chunk_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	uint64_t stop = r->appended + CHUNK;

	(void)fd;
	(void)what;
	if (stop > r->n)
		stop = r->n;
	if (r->appended == 0) {
		now(&r->t0);
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &r->cpu0);
	}
	while (r->appended < stop) {
		json_t *fields = record_fields(r->appended);
		const char *cause = NULL;
		uint64_t seq;

		if (fields == NULL) {
			r->failed = 1;
			r->cause = "json_pack failed";
			event_base_loopbreak(r->base);
			return;
		}
		seq = audit_append(r->a, "alert.received", "system", fields,
		    &cause);
		if (seq == 0) {
			/* Back-pressure, not an error: wait for one batch. */
			if (cause != NULL && strstr(cause, "too far behind")) {
				r->backpressure++;
				audit_when_durable(r->a,
				    audit_durable_seq(r->a) + 1, resume_cb, r);
				return;
			}
			r->failed = 1;
			r->cause = cause ? cause : "audit_append refused";
			event_base_loopbreak(r->base);
			return;
		}
		r->last_seq = seq;
		r->appended++;
	}
	if (r->appended < r->n)
		event_active(r->ev_chunk, EV_READ, 0);
	else
		audit_when_durable(r->a, r->last_seq, durable_cb, r);
}

/* Integer field of audit_status_json(). */
static uint64_t
status_u64(struct audit *a, const char *key)
{
	json_t *st = audit_status_json(a);
	uint64_t v = (uint64_t)json_integer_value(json_object_get(st, key));

	json_decref(st);
	return v;
}

static void
seg_path(char *buf, size_t len, const char *dir, unsigned seg)
{
	int k = snprintf(buf, len, "%s/" AUDIT_SEGMENT_FMT, dir, seg);

	if (k < 0 || (size_t)k >= len)
		die("%s: path too long", dir);
}

/* Sum of the sizes of a log directory's segments. */
static uint64_t
segments_bytes(const char *dir, size_t *nsegs)
{
	struct audit_segments segs;
	char *cause = NULL, path[4096];
	uint64_t total = 0;
	struct stat st;

	if (audit_segments_list(dir, &segs, &cause) == -1)
		die("%s", cause ? cause : "cannot list segments");
	for (size_t i = 0; i < segs.n; i++) {
		seg_path(path, sizeof path, dir, segs.num[i]);
		if (stat(path, &st) == -1)
			die("%s: %s", path, strerror(errno));
		total += (uint64_t)st.st_size;
	}
	*nsegs = segs.n;
	audit_segments_free(&segs);
	return total;
}

static void
keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
bench_append(const char *dir, int sync, uint64_t n, struct figure *fig)
{
	struct config *cfg;
	struct run r;
	char *cause = NULL;
	size_t nsegs;

	cfg = calloc(1, sizeof *cfg);
	if (cfg == NULL || (cfg->audit.dir = strdup(dir)) == NULL)
		die("out of memory");
	cfg->audit.sync = sync;
	cfg->audit.sync_interval_ms = 5;
	cfg->audit.sync_records = SYNC_RECORDS;
	cfg->audit.segment_size = SEGMENT_SIZE;
	cfg->audit.max_record = 1024 * 1024;
	cfg->audit.anchor_every = 1000;

	memset(&r, 0, sizeof r);
	r.n = n;
	r.base = event_base_new();
	if (r.base == NULL)
		die("event_base_new failed");
	r.a = audit_open(r.base, cfg, &cause);
	if (r.a == NULL)
		die("audit_open %s: %s", dir, cause ? cause : "failed");
	r.ev_chunk = event_new(r.base, -1, 0, chunk_cb, &r);
	if (r.ev_chunk == NULL)
		die("event_new failed");
	/*
	 * The writer's completion event is only ever activated, never added:
	 * while a batch is in flight the loop would see no events and return.
	 * The daemon always has its sockets and signals; this stands for them.
	 */
	struct timeval hour = {3600, 0};
	r.ev_keepalive = event_new(r.base, -1, EV_PERSIST, keepalive_cb, NULL);
	if (r.ev_keepalive == NULL || event_add(r.ev_keepalive, &hour) == -1)
		die("event_new failed");
	event_active(r.ev_chunk, EV_READ, 0);
	if (event_base_dispatch(r.base) == -1)
		die("event_base_dispatch failed");
	if (r.failed)
		die("append (%s): %s after %" PRIu64 " records", dir, r.cause,
		    r.appended);
	if (!r.durable)
		die("append (%s): the loop ended before the last record was "
		    "durable", dir);

	fig->records = n;
	fig->secs = elapsed(&r.t0, &r.t1);
	fig->cpu_secs = elapsed(&r.cpu0, &r.cpu1);
	fig->syncs = status_u64(r.a, "syncs");
	fig->backpressure = r.backpressure;
	audit_close(r.a);
	event_free(r.ev_chunk);
	event_free(r.ev_keepalive);
	event_base_free(r.base);
	free(cfg->audit.dir);
	free(cfg);
	fig->bytes = segments_bytes(dir, &nsegs);
}

/*
 * What building (and freeing) the fields costs on the loop thread, in
 * seconds per record: part of the append figures, but the caller's cost,
 * not the log's. Measured on up to 100000 records.
 */
static double
bench_fields(uint64_t n)
{
	struct timespec t0, t1;
	uint64_t m = n < 100000 ? n : 100000;

	now(&t0);
	for (uint64_t i = 0; i < m; i++) {
		json_t *f = record_fields(i);
		if (f == NULL)
			die("json_pack failed");
		json_decref(f);
	}
	now(&t1);
	return elapsed(&t0, &t1) / (double)m;
}

/* ---- Replay and verify ------------------------------------------------- */

struct replay_count {
	uint64_t records;
	uint64_t type_bytes;
};

static int
replay_cb(const struct audit_rec *rec, void *arg)
{
	struct replay_count *c = arg;

	c->records++;
	c->type_bytes += rec->type_len;
	return 0;
}

static double
bench_replay(const char *dir, int flags, uint64_t n)
{
	struct replay_count c = {0, 0};
	struct timespec t0, t1;
	char *cause = NULL;
	int rc;

	now(&t0);
	rc = audit_replay(dir, 1, flags, replay_cb, &c, &cause);
	now(&t1);
	if (rc != 0)
		die("replay %s: %s", dir, cause ? cause : "failed");
	if (c.records != n || c.type_bytes != n * strlen("alert.received"))
		die("replay %s: %" PRIu64 " records, %" PRIu64 " type bytes; "
		    "expected %" PRIu64, dir, c.records, c.type_bytes, n);
	return elapsed(&t0, &t1);
}

static double
bench_verify(const char *dir, uint64_t n)
{
	struct audit_verdict v;
	struct timespec t0, t1;

	now(&t0);
	audit_verify(dir, 0, NULL, 0, &v);
	now(&t1);
	if (!v.ok)
		die("verify %s: segment %u line %" PRIu64 ": %s", dir,
		    v.bad_segment, v.bad_line, v.why);
	if (v.records != n)
		die("verify %s: %" PRIu64 " records, expected %" PRIu64, dir,
		    v.records, n);
	return elapsed(&t0, &t1);
}

/* Drops a log's clean pages from the page cache, for a cold replay. */
static void
evict(const char *dir)
{
	struct audit_segments segs;
	char *cause = NULL, path[4096];

	settle();
	if (audit_segments_list(dir, &segs, &cause) == -1)
		die("%s", cause ? cause : "cannot list segments");
	for (size_t i = 0; i < segs.n; i++) {
		seg_path(path, sizeof path, dir, segs.num[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			die("%s: %s", path, strerror(errno));
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	audit_segments_free(&segs);
}

/* ---- The reference: plain write() (+ fdatasync) of the same bytes ------ */

/* The log's bytes, in memory (mapped and faulted in before any timing). */
struct source {
	char *buf;
	size_t len;
};

static void
source_load(const char *dir, struct source *s)
{
	struct audit_segments segs;
	char *cause = NULL, path[4096];
	size_t nsegs, off = 0;

	s->len = (size_t)segments_bytes(dir, &nsegs);
	s->buf = mmap(NULL, s->len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->buf == MAP_FAILED)
		die("mmap %zu bytes: %s", s->len, strerror(errno));
	if (audit_segments_list(dir, &segs, &cause) == -1)
		die("%s", cause ? cause : "cannot list segments");
	for (size_t i = 0; i < segs.n; i++) {
		seg_path(path, sizeof path, dir, segs.num[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd == -1)
			die("%s: %s", path, strerror(errno));
		for (;;) {
			ssize_t k = read(fd, s->buf + off, s->len - off);
			if (k == -1 && errno == EINTR)
				continue;
			if (k == -1)
				die("read %s: %s", path, strerror(errno));
			if (k == 0)
				break;
			off += (size_t)k;
		}
		close(fd);
	}
	audit_segments_free(&segs);
	if (off != s->len)
		die("%s: read %zu bytes, expected %zu", dir, off, s->len);
}

/*
 * Writes s in chunks of `chunk` bytes to a new file, with fdatasync() after
 * each chunk when `sync`; returns the seconds from the first write to the
 * last write (or sync).
 */
static double
bench_reference(const char *path, const struct source *s, size_t chunk,
    int sync)
{
	struct timespec t0, t1;
	size_t off = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC,
	    0640);
	if (fd == -1)
		die("%s: %s", path, strerror(errno));
	now(&t0);
	while (off < s->len) {
		size_t end = off + chunk < s->len ? off + chunk : s->len;
		while (off < end) {
			ssize_t k = write(fd, s->buf + off, end - off);
			if (k == -1 && errno == EINTR)
				continue;
			if (k <= 0)
				die("write %s: %s", path,
				    k == 0 ? "no progress" : strerror(errno));
			off += (size_t)k;
		}
		if (sync && fdatasync(fd) == -1)
			die("fdatasync %s: %s", path, strerror(errno));
	}
	now(&t1);
	close(fd);
	if (unlink(path) == -1)
		die("unlink %s: %s", path, strerror(errno));
	return elapsed(&t0, &t1);
}

/* ---- Main -------------------------------------------------------------- */

static void
usage(void)
{
	fprintf(stderr, "usage: bench_audit [N] [DIR]\n"
	    "  N    records per phase (default %llu)\n"
	    "  DIR  where a scratch directory is made and removed at the end "
	    "(default /var/tmp)\n", DEFAULT_N);
	exit(2);
}

static void
progress(const char *what)
{
	fprintf(stderr, "bench_audit: %s...\n", what);
}

int
main(int argc, char **argv)
{
	struct figure group, none;
	struct source src;
	char tmpl[2048], dir_group[2100], dir_none[2100], ref_path[2100];
	const char *parent = "/var/tmp";
	uint64_t n = DEFAULT_N;
	double t_replay, t_replay_cold, t_replay_verify, t_verify;
	double t_ref_sync, t_ref_nosync, t_fields;

	if (argc > 3 || (argc > 1 && argv[1][0] == '-'))
		usage();
	if (argc > 1) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(argv[1], &end, 10);
		if (errno != 0 || *end != '\0' || end == argv[1] || v == 0)
			usage();
		n = v;
	}
	if (argc > 2)
		parent = argv[2];

	/* Only warnings: the writer logs an anchor per batch at notice. */
	log_init("bench_audit", LOG_LVL_WARN);
	if (evthread_use_pthreads() == -1)
		die("evthread_use_pthreads failed");

	if ((size_t)snprintf(tmpl, sizeof tmpl, "%s/bench_audit.XXXXXX",
	    parent) >= sizeof tmpl)
		die("%s: path too long", parent);
	if (mkdtemp(tmpl) == NULL)
		die("mkdtemp %s: %s", tmpl, strerror(errno));
	workdir = tmpl;
	snprintf(dir_group, sizeof dir_group, "%s/group", workdir);
	snprintf(dir_none, sizeof dir_none, "%s/none", workdir);
	snprintf(ref_path, sizeof ref_path, "%s/reference.dat", workdir);

	t_fields = bench_fields(n);
	progress("append, sync=group");
	settle();
	bench_append(dir_group, AUDIT_SYNC_GROUP, n, &group);
	progress("append, sync=none");
	settle();
	bench_append(dir_none, AUDIT_SYNC_NONE, n, &none);

	progress("replay");
	settle();
	t_replay = bench_replay(dir_group, 0, n);
	t_replay_verify = bench_replay(dir_group, AUDIT_REPLAY_VERIFY, n);
	t_verify = bench_verify(dir_group, n);
	evict(dir_group);
	t_replay_cold = bench_replay(dir_group, 0, n);

	progress("reference write+fdatasync, write");
	source_load(dir_group, &src);
	double avg = (double)src.len / (double)n;
	size_t chunk = (size_t)(avg * SYNC_RECORDS + 0.5);
	settle();
	t_ref_sync = bench_reference(ref_path, &src, chunk, 1);
	settle();
	t_ref_nosync = bench_reference(ref_path, &src, chunk, 0);
	settle();
	munmap(src.buf, src.len);

	double rps_group = (double)n / group.secs;
	double rps_none = (double)n / none.secs;
	double rps_ref = (double)n / t_ref_sync;
	double rps_ref_nosync = (double)n / t_ref_nosync;
	double rps_replay = (double)n / t_replay;
	double replay_target = TARGET_REPLAY_SECS * (double)n / 1e6;

	printf("records: %" PRIu64 ", %.1f bytes/line on average, "
	    "%.1f MB per log (MB = 10^6 bytes)\n", n, avg,
	    (double)group.bytes / MB);
	printf("audit append sync=group: %" PRIu64 " records in %.2f s = "
	    "%.0f records/s (%.1f MB/s); ratio to write+fdatasync: %.2f\n",
	    n, group.secs, rps_group, (double)group.bytes / group.secs / MB,
	    rps_group / rps_ref);
	printf("  loop thread CPU %.2f s (%.2f us/record), %" PRIu64
	    " fdatasyncs (%.0f records per sync on average), %" PRIu64
	    " back-pressure waits\n", group.cpu_secs,
	    group.cpu_secs * 1e6 / (double)n, group.syncs,
	    group.syncs ? (double)n / (double)group.syncs : 0.0,
	    group.backpressure);
	printf("  of that CPU, building and freeing the fields in the bench "
	    "(json_pack: the caller's share, both modes): %.2f us/record\n",
	    t_fields * 1e6);
	printf("audit append sync=none: %" PRIu64 " records in %.2f s = "
	    "%.0f records/s (%.1f MB/s); ratio to write+fdatasync: %.2f, "
	    "to write only: %.2f\n",
	    n, none.secs, rps_none, (double)none.bytes / none.secs / MB,
	    rps_none / rps_ref, rps_none / rps_ref_nosync);
	printf("  loop thread CPU %.2f s (%.2f us/record), %" PRIu64
	    " back-pressure waits\n", none.cpu_secs,
	    none.cpu_secs * 1e6 / (double)n, none.backpressure);
	printf("audit replay: %" PRIu64 " records in %.2f s = %.0f records/s "
	    "(%.1f MB/s)\n", n, t_replay, rps_replay,
	    (double)group.bytes / t_replay / MB);
	printf("audit replay, cold page cache: %" PRIu64 " records in %.2f s "
	    "= %.0f records/s (%.1f MB/s)\n", n, t_replay_cold,
	    (double)n / t_replay_cold, (double)group.bytes / t_replay_cold / MB);
	printf("audit replay VERIFY: %" PRIu64 " records in %.2f s = %.0f "
	    "records/s (%.1f MB/s)\n", n, t_replay_verify,
	    (double)n / t_replay_verify,
	    (double)group.bytes / t_replay_verify / MB);
	printf("audit verify (full): %" PRIu64 " records in %.2f s = %.0f "
	    "records/s (%.1f MB/s)\n", n, t_verify, (double)n / t_verify,
	    (double)group.bytes / t_verify / MB);
	printf("reference write+fdatasync (%zu-byte chunks = %d records): "
	    "%.1f MB in %.2f s = %.1f MB/s = %.0f records/s\n", chunk,
	    SYNC_RECORDS, (double)src.len / MB, t_ref_sync,
	    (double)src.len / t_ref_sync / MB, rps_ref);
	printf("reference write only (same chunks): %.1f MB in %.2f s = "
	    "%.1f MB/s = %.0f records/s\n", (double)src.len / MB,
	    t_ref_nosync, (double)src.len / t_ref_nosync / MB, rps_ref_nosync);
	printf("summary: group commit target 200k records/s: %s (%.0f "
	    "records/s); replay target < %.3g s for %" PRIu64 " records: %s "
	    "(%.2f s)\n", rps_group >= TARGET_GROUP_RPS ? "met" : "not met",
	    rps_group, replay_target, n,
	    t_replay < replay_target ? "met" : "not met", t_replay);
	fflush(stdout);
	cleanup();
	return 0;
}
