"""The `wnet-tf` command. Subcommands live beside the code they drive and are imported only when
called, so `wnet-tf evaluate` never pays for importing TensorFlow."""

import importlib

import click

from wnet_tf.entry import configure_tensorflow

COMMANDS = {
    "train": ("wnet_tf.train", "Train W-Net from a JSON config."),
    "export": ("wnet_tf.export", "Export a run as a float32 SavedModel."),
    "segment": ("wnet_tf.segment", "Segment images with an exported model."),
    "postprocess": ("wnet_tf.postprocess.cli", "CRF + hierarchical merging into ucm2 files."),
    "evaluate": ("wnet_tf.evaluate", "Score segmentations on BSDS (SC, PRI, VI at ODS/OIS)."),
    "make-records": ("wnet_tf.records", "Convert a folder of images to sharded TFRecords."),
    "view": ("wnet_tf.view.cli", "A page to browse hierarchies and evaluations in a browser."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        # Here, not in run(): after --verbose is parsed, before the command imports TensorFlow.
        configure_tensorflow(verbose=ctx.params.get("verbose", False))
        return importlib.import_module(COMMANDS[name][0]).command

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="wnet-tf")
@click.option("--verbose", is_flag=True, help="Show TensorFlow's own C++ log lines too.")
def main(verbose):
    """W-Net: fully unsupervised image segmentation (train, export, segment, postprocess,
    evaluate)."""


def run():
    """The console script: TensorFlow is configured (`get_command`) before any subcommand
    starts it."""
    main()


if __name__ == "__main__":
    run()
