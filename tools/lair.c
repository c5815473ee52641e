/* lair: one binary, many subcommands.  This file only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lair.h"

static const cli_cmd *const commands[] = {&cmd_inspect, &cmd_gen, &cmd_quantize, &cmd_logits, &cmd_bench, &cmd_tokenize, &cmd_template, &cmd_run, &cmd_chat, &cmd_serve, &cmd_grammar, &cmd_plan};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void print_help(void) {
    printf("lair %s — a local-AI runtime: GGUF models on your own machine\n\n", lair_version());
    printf("usage: lair <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) printf("  %-10s %s\n", commands[i]->name, commands[i]->summary);
    printf("  %-10s %s\n", "help", "show this help, or a command's: lair help <command>");
    printf("\n'lair <command> --help' describes each command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help();
        return 1;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0 || strcmp(name, "version") == 0) {
        printf("lair %s\n", lair_version());
        return 0;
    }
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        if (argc >= 3) {
            for (size_t i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i]->name) == 0) {
                    cli_print_help(commands[i]);
                    return 0;
                }
            fprintf(stderr, "lair: unknown command '%s'\n", argv[2]);
            return 1;
        }
        print_help();
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, commands[i]->name) == 0) return commands[i]->run(argc - 1, argv + 1);
    fprintf(stderr, "lair: unknown command '%s' (try 'lair help')\n", name);
    return 1;
}
