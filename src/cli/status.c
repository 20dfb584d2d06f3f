#include "cli/cli.h"
int ab_cli_status(const struct ab_config *cfg, int argc, char **argv)
{
    (void)cfg;
    (void)argc;
    (void)argv;
    return 1;
}
