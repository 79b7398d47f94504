/*
 * main.c - the scimgate command line: subcommands only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrate.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "version") == 0) {
        printf("scimgate %s\n", SCIMGATE_VERSION);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "migrate") == 0) {
        const char *url = getenv("DATABASE_URL");
        char err[512];
        int applied = 0;
        if (!migrate_run(url ? url : "", &applied, err, sizeof err)) {
            fprintf(stderr, "scimgate migrate: %s\n", err);
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "usage: scimgate serve|worker|migrate|version\n");
    return 2;
}
