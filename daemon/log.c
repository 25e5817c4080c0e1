/*
 * Logging: one sink, chosen at start. By hand, stderr lines carry an ISO
 * timestamp and the level; under systemd (stderr is the journal stream named
 * by JOURNAL_STREAM) they carry the journal's "<N>" priority prefix instead.
 * A message is one line whatever it carries: control characters are
 * escaped (utf8_escape_controls).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "remediad/log.h"
#include "remediad/utf8.h"

static const char *const level_names[] = {"error", "warn", "notice", "info",
    "debug"};
/* syslog priorities: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */
static const int journal_prio[] = {3, 4, 5, 6, 7};

static struct {
	const char *progname;
	enum log_level level;
	int journal;
} log_state = {"remediad", LOG_LVL_INFO, 0};

/* True when fd 2 is the stream systemd named in JOURNAL_STREAM ("dev:ino"). */
static int
log_stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, enum log_level level)
{
	log_state.progname = progname;
	log_state.level = level;
	log_state.journal = log_stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	log_state.level = level;
}

enum log_level
log_get_level(void)
{
	return log_state.level;
}

int
log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level >= sizeof level_names / sizeof level_names[0])
		return "?";
	return level_names[level];
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[4096], safe[4096], stamp[40];
	const char *line;
	struct timespec ts;
	struct tm tm;
	int saved = errno;

	if (level > log_state.level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	/*
	 * A message quotes outside text (a playbook's rd.log from a worker
	 * that may be compromised, an alert's fields, a connector's answer):
	 * one line, whatever it carries.
	 */
	line = msg;
	if (utf8_has_controls(msg, strlen(msg))) {
		utf8_escape_controls(msg, strlen(msg), safe, sizeof safe);
		line = safe;
	}
	/* One write per line so concurrent writers do not interleave. */
	if (log_state.journal) {
		dprintf(STDERR_FILENO, "<%d>%s\n", journal_prio[level], line);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
		dprintf(STDERR_FILENO, "%s.%03ldZ %s[%d]: %s: %s\n", stamp,
		    ts.tv_nsec / 1000000, log_state.progname, (int)getpid(),
		    level_names[level], line);
	}
	errno = saved;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
log_lines(enum log_level level, const char *text, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
	while (text != NULL && *text != '\0') {
		size_t n = strcspn(text, "\n");
		log_msg(level, "  %.*s", (int)n, text);
		text += n + (text[n] == '\n');
	}
}

void
log_warn(const char *fmt, ...)
{
	char msg[4096];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_WARN, "%s: %s", msg, strerror(saved));
	errno = saved;
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, fmt, ap);
	va_end(ap);
	abort();
}
