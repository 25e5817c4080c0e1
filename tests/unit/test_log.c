/*
 * The log sink (log.c): one message is one line, whatever it carries. Text
 * from outside (a playbook's rd.log through a worker that may be
 * compromised, an alert's fields, a connector's answer) must not forge a
 * second line, a journal priority prefix or a terminal escape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "remediad/log.h"

/* stderr goes to a scratch file until capture_end() returns its text. */
static int capture_fd = -1, capture_saved = -1;

static void
capture_begin(void)
{
	char path[] = "/tmp/test_log.XXXXXX";

	capture_fd = mkstemp(path);
	capture_saved = dup(STDERR_FILENO);
	assert_true(capture_fd != -1 && capture_saved != -1);
	unlink(path);
	assert_int_not_equal(dup2(capture_fd, STDERR_FILENO), -1);
}

static const char *
capture_end(void)
{
	static char out[16384];
	ssize_t n;

	assert_int_not_equal(dup2(capture_saved, STDERR_FILENO), -1);
	close(capture_saved);
	n = pread(capture_fd, out, sizeof out - 1, 0);
	close(capture_fd);
	assert_true(n >= 0);
	out[n] = '\0';
	return out;
}

/* What log_msg(level, "%s", msg) writes to stderr. */
static const char *
logged(enum log_level level, const char *msg)
{
	capture_begin();
	log_msg(level, "%s", msg);
	return capture_end();
}

/* The message part of a line: after "LEVEL: " (by hand) or "<N>". */
static const char *
message_of(const char *line)
{
	const char *m = strstr(line, "info: ");

	return m != NULL ? m + strlen("info: ") : line;
}

static void
test_plain_message_unchanged(void **state)
{
	(void)state;
	log_init("test_log", LOG_LVL_DEBUG);
	const char *out = logged(LOG_LVL_INFO, "playbook x: caf\xc3\xa9 \\n ok");

	assert_string_equal(message_of(out), "playbook x: caf\xc3\xa9 \\n ok\n");
}

static void
test_control_bytes_escaped(void **state)
{
	(void)state;
	log_init("test_log", LOG_LVL_DEBUG);
	const char *out = logged(LOG_LVL_INFO, "ok\n2026-11-23T00:00:00.000Z "
	    "remediad[1]: error: forged\r\x1b[2J\t\x7f" "end");

	/* One line, the bytes still readable. */
	assert_non_null(strchr(out, '\n'));
	assert_true(strchr(out, '\n')[1] == '\0');
	assert_null(strchr(out, '\r'));
	assert_null(strchr(out, '\x1b'));
	assert_null(strchr(out, '\x7f'));
	assert_string_equal(message_of(out), "ok\\x0a2026-11-23T00:00:00.000Z "
	    "remediad[1]: error: forged\\x0d\\x1b[2J\\x09\\x7f" "end\n");
}

/* C1 controls (U+009B is CSI on many terminals) too; other UTF-8 stays. */
static void
test_c1_escaped(void **state)
{
	(void)state;
	log_init("test_log", LOG_LVL_DEBUG);
	assert_string_equal(message_of(logged(LOG_LVL_INFO,
	    "a\xc2\x9b" "31m caf\xc3\xa9")), "a\\u009b31m caf\xc3\xa9\n");
}

/* Escaping grows the text: the line is cut, never overflows, still one. */
static void
test_long_escaped_message_cut(void **state)
{
	char msg[5000];

	(void)state;
	log_init("test_log", LOG_LVL_DEBUG);
	memset(msg, '\n', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	const char *out = logged(LOG_LVL_INFO, msg);

	assert_true(strlen(out) > 4000);
	assert_true(strchr(out, '\n')[1] == '\0');
	/* Cut between escapes, not inside one. */
	const char *m = message_of(out);
	size_t len = strlen(m) - 1;
	assert_int_equal(len % 4, 0);
	for (size_t i = 0; i < len; i += 4)
		assert_memory_equal(m + i, "\\x0a", 4);
}

/* Under systemd a line starting "<N>" sets its priority: one per message. */
static void
test_journal_priority_not_forged(void **state)
{
	char env[64];
	struct stat st;

	(void)state;
	capture_begin();
	assert_int_equal(fstat(STDERR_FILENO, &st), 0);
	snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_init("test_log", LOG_LVL_DEBUG);
	log_msg(LOG_LVL_INFO, "%s", "hello\n<0>emergency");
	unsetenv("JOURNAL_STREAM");
	log_init("test_log", LOG_LVL_DEBUG);
	assert_string_equal(capture_end(), "<6>hello\\x0a<0>emergency\n");
}

/* A config's list of errors: a line of the log each. */
static void
test_lines_one_message_each(void **state)
{
	(void)state;
	log_init("test_log", LOG_LVL_DEBUG);
	capture_begin();
	log_lines(LOG_LVL_ERROR, "x.conf:3: bad\nx.conf:7: \x1bworse\n",
	    "%s: config is not valid:", "x.conf");
	log_lines(LOG_LVL_ERROR, NULL, "%s", "no text");
	const char *out = capture_end();
	const char *want[] = {"error: x.conf: config is not valid:\n",
	    "error:   x.conf:3: bad\n", "error:   x.conf:7: \\x1bworse\n",
	    "error: no text\n"};
	const char *p = out;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		size_t len = (size_t)(nl + 1 - p);
		assert_true(len >= strlen(want[i]));
		assert_memory_equal(nl + 1 - strlen(want[i]), want[i],
		    strlen(want[i]));
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_message_unchanged),
	    cmocka_unit_test(test_control_bytes_escaped),
	    cmocka_unit_test(test_c1_escaped),
	    cmocka_unit_test(test_long_escaped_message_cut),
	    cmocka_unit_test(test_journal_priority_not_forged),
	    cmocka_unit_test(test_lines_one_message_each),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
