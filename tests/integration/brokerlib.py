"""The Kafka broker of the integration tests: tests/tools/mockbroker (the
daemon's broker.c on loopback) as a child process, its fault commands on
stdin, and kcat as an independent client. Standard library only."""
import os
import signal
import subprocess

from harness import (TestFailure, assert_no_sanitizer_report, check,
                     read_log, wait_for, WAIT)

MOCKBROKER = os.environ.get("MOCKBROKER", "mockbroker")
KCAT = os.environ.get("KCAT", "kcat")


class MockBroker:
    """One mockbroker process. start(n, topics) returns the bootstrap
    string; command("down 1") returns the reply line ("ok" or
    "error ..."); stop() sends SIGTERM and checks exit 0 and a clean
    stderr. topics: {"name": partitions} or ["name", "name:6", ...]."""

    def __init__(self, tmp, name="broker"):
        self.tmp = tmp
        self.bootstrap_file = os.path.join(tmp, name + ".bootstrap")
        self.log = os.path.join(tmp, name + ".log")
        # harness.run_cases names each process by .conf when it prints
        # its log after a failure.
        self.conf = self.log
        self.proc = None
        self.bootstrap = None

    def argv(self, n=1, topics=()):
        if isinstance(topics, dict):
            topics = [f"{t}:{p}" for t, p in topics.items()]
        argv = [MOCKBROKER, "--brokers", str(n),
                "--bootstrap-file", self.bootstrap_file]
        for t in topics:
            argv += ["--topic", str(t)]
        return argv

    def start(self, n=1, topics=(), debug=False):
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        e.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        argv = self.argv(n, topics) + (["--debug"] if debug else [])
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE,
                                     stderr=self.logf, env=e, text=True,
                                     bufsize=1)
        # The file is written last: once it is there, the cluster serves.
        wait_for(self._file_ready, "mockbroker's " + self.bootstrap_file)
        line = self.proc.stdout.readline().rstrip("\n")
        check(line.startswith("ready "), "mockbroker said " + repr(line))
        self.bootstrap = line[len("ready "):]
        with open(self.bootstrap_file) as f:
            check(f.read() == self.bootstrap + "\n",
                  "bootstrap file and ready line differ")
        return self.bootstrap

    def _file_ready(self):
        if self.proc.poll() is not None:
            raise TestFailure(f"mockbroker exited {self.proc.returncode}:\n"
                              + self.log_text()[-4000:])
        return os.path.exists(self.bootstrap_file)

    def command(self, line):
        """One command line in, its reply line out."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        if not reply:
            raise TestFailure(f"mockbroker closed stdout after {line!r}:\n"
                              + self.log_text()[-4000:])
        return reply.rstrip("\n")

    def log_text(self):
        return read_log(self.log)

    def assert_clean_log(self):
        assert_no_sanitizer_report(self.log_text(), "mockbroker's stderr")

    def stop(self, sig=signal.SIGTERM):
        """Signals, waits, checks exit 0 and no sanitizer report."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("mockbroker did not stop on " + sig.name)
        self._close()
        self.assert_clean_log()
        check(rc == 0, f"mockbroker exited {rc}:\n" + self.log_text()[-4000:])

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close()

    def _close(self):
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass  # a broken pipe to a process that has exited
            self.proc = None
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None


def kcat(bootstrap, *args, data=None, timeout=WAIT):
    """Runs kcat against the broker; returns the CompletedProcess and
    fails the test on a non-zero exit."""
    argv = [KCAT, "-b", bootstrap] + list(args)
    r = subprocess.run(argv, input=data, capture_output=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise TestFailure(f"{' '.join(argv)}: exit {r.returncode}\n"
                          + r.stderr.decode("utf-8", "replace")[-4000:])
    return r


def produce(bootstrap, topic, lines, partition=None, partitions=None):
    """Produces one message per line (text lines without newlines).
    partitions=N spreads them round-robin over partitions 0..N-1: without
    keys kcat batches stickily into one partition, and the mock keeps only
    a few MB per partition, so a bulk load there would lose its oldest."""
    if partitions is not None:
        for p in range(partitions):
            if lines[p::partitions]:
                produce(bootstrap, topic, lines[p::partitions], partition=p)
        return
    args = ["-P", "-t", topic]
    if partition is not None:
        args += ["-p", str(partition)]
    kcat(bootstrap, *args, data="".join(l + "\n" for l in lines).encode())


def consume(bootstrap, topic, partition=None):
    """Every message of the topic (or one partition) from the beginning;
    exits at the end of each partition."""
    args = ["-C", "-t", topic, "-o", "beginning", "-e", "-q"]
    if partition is not None:
        args += ["-p", str(partition)]
    out = kcat(bootstrap, *args).stdout.decode()
    return out.splitlines()
