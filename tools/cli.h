/* Table-driven command-line options: each subcommand declares one table, and
 * the same table parses argv and prints --help, so they cannot disagree. */
#ifndef LAIR_TOOLS_CLI_H
#define LAIR_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

typedef enum cli_kind { CLI_FLAG, CLI_STR, CLI_INT, CLI_U64, CLI_SIZE, CLI_FLOAT } cli_kind;

typedef struct cli_opt {
    const char *name;    /* long name without "--" */
    char short_name;     /* 0: none */
    cli_kind kind;
    void *dst;           /* bool*, const char**, int*, uint64_t* (CLI_SIZE: bytes, accepts 512M / 2G), double* (CLI_FLOAT: finite) */
    const char *metavar; /* "FILE", "N", ... */
    const char *help;
} cli_opt;

typedef struct cli_cmd {
    const char *name;
    const char *usage;   /* "FILE [--json]" */
    const char *summary; /* one line */
    int (*run)(int argc, char **argv);
    const cli_opt *opts;
} cli_cmd;

/* Parses argv[1..] (argv[0] is the subcommand name).  Positional arguments
 * are collected in order into pos[0..max_pos).  Returns 0 on success, 1 after
 * printing a usage error to stderr, 2 when --help was printed. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv, const char **pos, int max_pos, int *n_pos);
void cli_print_help(const cli_cmd *cmd);
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Subcommands, defined in tools/cmd_*.c. */
extern const cli_cmd cmd_inspect;
extern const cli_cmd cmd_gen;
extern const cli_cmd cmd_quantize;
extern const cli_cmd cmd_logits;
extern const cli_cmd cmd_bench;
extern const cli_cmd cmd_template;
extern const cli_cmd cmd_tokenize;
extern const cli_cmd cmd_run;
extern const cli_cmd cmd_chat;
extern const cli_cmd cmd_serve;
extern const cli_cmd cmd_grammar;
extern const cli_cmd cmd_plan;

#endif
