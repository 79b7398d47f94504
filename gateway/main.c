/*
 * main.c - the scimgate command line: subcommands only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "config.h"
#include "doctor.h"
#include "log.h"
#include "migrate.h"
#include "serve.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: scimgate <command> [options]\n"
            "\n"
            "commands:\n"
            "  serve      run the SCIM and admin HTTP listener (--with-worker adds the\n"
            "             webhook delivery worker to the same process)\n"
            "  worker     run the webhook delivery worker\n"
            "  migrate    apply the database migrations\n"
            "  doctor     check the settings, database, migrations, public URL, TLS files\n"
            "             and webhook endpoints, and say what to fix\n"
            "  version    print the version and the library versions\n"
            "  org        create, list or delete organizations (see `scimgate org --help`)\n"
            "  token      issue, list or revoke SCIM tokens (see `scimgate token --help`)\n"
            "\n"
            "`scimgate <command> --help` lists the settings of a command.\n");
}

static int cmd_version(void)
{
    int pq = PQlibVersion();
    printf("scimgate %s\n", SCIMGATE_VERSION);
    printf("  libevent %s\n  libpq %d.%d\n  jansson %s\n  %s\n", event_get_version(),
           pq / 10000, pq % 100, JANSSON_VERSION, OpenSSL_version(OPENSSL_VERSION));
    return 0;
}

static int cmd_migrate(int argc, char **argv)
{
    struct config cfg;
    enum config_parse_result r = config_load(&cfg, "migrate", argc, argv, 2);
    if (r != CONFIG_OK) {
        config_clear(&cfg);
        return r == CONFIG_HELP ? 0 : 2;
    }
    char err[1024];
    int applied = 0;
    bool ok = migrate_run(cfg.database_url ? cfg.database_url : "", &applied, err, sizeof err);
    if (!ok)
        fprintf(stderr, "scimgate migrate: %s\n", err);
    else
        log_info("migrations current", LF_INT("applied", applied),
                 LF_STR("latest", migrate_latest_name()));
    config_clear(&cfg);
    return ok ? 0 : 1;
}

static int cmd_run(const char *name, int (*run)(const struct config *), int argc, char **argv)
{
    struct config cfg;
    enum config_parse_result r = config_load(&cfg, name, argc, argv, 2);
    if (r != CONFIG_OK) {
        config_clear(&cfg);
        return r == CONFIG_HELP ? 0 : 2;
    }
    int status = 0;
    if (cfg.check_only)
        printf("configuration OK\n");
    else
        status = run(&cfg);
    config_clear(&cfg);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
        return cmd_version();
    if (strcmp(cmd, "migrate") == 0)
        return cmd_migrate(argc, argv);
    if (strcmp(cmd, "doctor") == 0)
        return doctor_main(argc, argv);
    if (strcmp(cmd, "serve") == 0)
        return cmd_run("serve", serve_run, argc, argv);
    if (strcmp(cmd, "org") == 0 || strcmp(cmd, "token") == 0)
        return cli_main(argc, argv);
    if (strcmp(cmd, "worker") == 0)
        return cmd_run("worker", serve_worker_run, argc, argv);
    fprintf(stderr, "scimgate: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
