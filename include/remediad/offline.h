/*
 * The offline tools for playbook authors, run from the remediad binary:
 * `--check` of the playbooks, `replay` of recorded alerts and
 * `test-playbooks`. They load and run playbooks in-process with the same
 * code as the workers, and touch no broker, connector or audit log.
 */
#ifndef REMEDIAD_OFFLINE_H
#define REMEDIAD_OFFLINE_H

struct config;

/* Loads the config's playbook set and says so; 0 valid, 1 not. */
int offline_check_playbooks(const struct config *cfg);
/*
 * `remediad replay -c FILE [--json] ALERTS.jsonl` (argv[0] is "replay");
 * config_path is the -c given before the word, if any. Exit code.
 */
int offline_replay(const char *config_path, int argc, char **argv);
/* `remediad test-playbooks DIR` (argv[0] is "test-playbooks"). */
int offline_test_playbooks(int argc, char **argv);

#endif
