"""Both learning rates follow the training step: boundaries as config.py states them, the rate
logged is the one used, and a step that mixed_float16 skips still counts."""

import numpy as np
import pytest
from test_trainer import make_trainer, two_region_images

from wnet_tf.config import OptimConfig
from wnet_tf.training.trainer import learning_rate


def test_lr_values_i_applies_to_the_steps_before_lr_boundaries_i():
    paper = OptimConfig()  # boundaries 10000, 20000, ...: the first 10,000 steps at 3e-3
    rates = {step: float(learning_rate(paper, step)) for step in (0, 9999, 10000, 19999, 20000,
                                                                   39999, 40000, 49999)}
    assert rates == pytest.approx({0: 3e-3, 9999: 3e-3, 10000: 3e-4, 19999: 3e-4, 20000: 3e-5,
                                   39999: 3e-6, 40000: 3e-7, 49999: 3e-7})


def test_the_logged_rate_is_the_one_the_step_used():
    trainer = make_trainer(optim=OptimConfig(lr_boundaries=(2,), lr_values=(1e-2, 1e-3)))
    images = two_region_images(2)
    logged = []
    for _ in range(3):
        trainer.reset_metrics()
        logs = trainer.train_on_batch(images, return_dict=True)
        logged += [logs["encoder_lr"], logs["wnet_lr"]]
        # The optimizers' rate variables hold the rate they last applied.
        assert float(trainer.encoder_optimizer.learning_rate) == pytest.approx(logs["encoder_lr"])
        assert float(trainer.wnet_optimizer.learning_rate) == pytest.approx(logs["wnet_lr"])
    assert logged == pytest.approx([1e-2, 1e-2, 1e-2, 1e-2, 1e-3, 1e-3])
    assert int(trainer.step) == 3


def test_ncut_lr_scale_scales_the_ncut_phase_alone():
    trainer = make_trainer(optim=OptimConfig(lr_boundaries=(1,), lr_values=(1e-2, 1e-3),
                                             ncut_lr_scale=0.25))
    images = two_region_images(2)
    for want in (1e-2, 1e-3):
        trainer.reset_metrics()
        logs = trainer.train_on_batch(images, return_dict=True)
        assert (logs["encoder_lr"], logs["wnet_lr"]) == pytest.approx((0.25 * want, want))
        assert float(trainer.encoder_optimizer.learning_rate) == pytest.approx(0.25 * want)
        assert float(trainer.wnet_optimizer.learning_rate) == pytest.approx(want)


def test_a_step_skipped_by_loss_scaling_still_moves_both_schedules(policy):
    policy("mixed_float16")
    trainer = make_trainer("mixed_float16",
                           optim=OptimConfig(lr_boundaries=(2,), lr_values=(1e-2, 1e-3)))
    images = two_region_images(2)
    bad = np.full_like(images, np.nan)  # non-finite gradients: LossScaleOptimizer skips
    for batch in (images, bad, images):
        trainer.reset_metrics()
        logs = trainer.train_on_batch(batch, return_dict=True)
    # Before the fix the optimizers' own iterations (1 here: the skipped update does not count)
    # drove the schedules, and the third step still ran at 1e-2.
    assert int(trainer.step) == 3
    assert int(trainer.encoder_optimizer.iterations) < 3
    assert logs["encoder_lr"] == pytest.approx(1e-3) and logs["wnet_lr"] == pytest.approx(1e-3)
