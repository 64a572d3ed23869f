/* main.c: the dcgan command: dispatches to a subcommand. */
#include "commands.h"
#include "../core/util.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(void) {
    printf("dcgan: a deep convolutional GAN trainer and image generator\n\n"
           "usage: dcgan COMMAND [options]    (dcgan COMMAND --help lists its options)\n\n"
           "commands:\n"
           "  train    train a DCGAN on images (default: Fashion-MNIST)\n"
           "  sample   generate images from a checkpoint\n"
           "  info     describe a checkpoint\n"
           "  eval     score samples: FID-LeNet, KID-LeNet, IS-LeNet, precision, recall\n"
           "  lenet    train the classifier whose features eval uses\n"
           "  interp   walk between two latent points (strip PNG, GIF)\n"
           "  arith    vector arithmetic in z: A - B + C\n"
           "  invert   find the z that draws a given image (real images into z)\n"
           "  report   rebuild a run folder's index.html and training.gif\n"
           "  export   weights as safetensors (PyTorch names) or the generator as ONNX\n"
           "  import   a checkpoint from PyTorch DCGAN weights (safetensors)\n"
           "  bench    time full training iterations on synthetic data\n");
}

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f) must give a write error we report, not kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) return cmd_train(argc, argv); /* `dcgan` alone trains with the defaults */
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage();
        return 0;
    }
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc, argv);
    if (!strcmp(argv[1], "train")) return cmd_train(argc, argv);
    if (!strcmp(argv[1], "sample")) return cmd_sample(argc, argv);
    if (!strcmp(argv[1], "info")) return cmd_info(argc, argv);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc, argv);
    if (!strcmp(argv[1], "lenet")) return cmd_lenet(argc, argv);
    if (!strcmp(argv[1], "interp")) return cmd_interp(argc, argv);
    if (!strcmp(argv[1], "arith")) return cmd_arith(argc, argv);
    if (!strcmp(argv[1], "invert")) return cmd_invert(argc, argv);
    if (!strcmp(argv[1], "report")) return cmd_report(argc, argv);
    if (!strcmp(argv[1], "export")) return cmd_export(argc, argv);
    if (!strcmp(argv[1], "import")) return cmd_import(argc, argv);
    die("unknown command '%s'; run dcgan --help for the list", argv[1]);
}
