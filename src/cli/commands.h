/* commands.h: the dcgan subcommands; each takes the whole argv (argv[1] is its name). */
#ifndef DCGAN_COMMANDS_H
#define DCGAN_COMMANDS_H
#include <math.h>
int cmd_bench(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
#endif
