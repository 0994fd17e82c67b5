"""Training W-Net, read in the order a run happens:

    loop.py        train(): the run directory checked, set-up, resume, then each step's cadence
                   (log, image panel, checkpoint, stop), timing, the progress bar; both backends
    trainer.py     WNetTrainer, Algorithm 1 as a Keras model with two optimizers, which both
                   backends build; its train_step is TensorFlow's step
    tf_engine.py   TensorFlow below the loop: tf.distribute, the step, checkpoints, image panels
    jax_engine.py  JAX below the loop: one jitted step over explicit state, state files
    scalars.py     scalars.csv, the curves as a plain file
    events.py      the same for TensorBoard (TensorFlow only)

What a run directory holds is wnet_tf.rundir's, shared with export and shipping.
"""
