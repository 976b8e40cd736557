"""rnncourse: the library of an executable course on recurrent neural networks.

The chapters, exercises and graders import it. Submodules hold one concept each (see CONTRIBUTING.md):
``reference`` (numpy forward/backward pairs), ``gradcheck``, ``modules`` (torch RNN cells), ``topologies``,
``bptt``, ``training``, ``gradients``, ``sampling``, ``charlm``, ``captioning``, ``data``, ``plots``,
``widgets`` and ``grade``. Their public names are also available here, e.g. ``rnncourse.RNN``; they are
imported on first use, so ``import rnncourse`` itself is cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # reference
    "rnn_step_forward": "reference",
    "rnn_step_backward": "reference",
    "rnn_forward": "reference",
    "rnn_backward": "reference",
    "embedding_forward": "reference",
    "embedding_backward": "reference",
    "affine_forward": "reference",
    "affine_backward": "reference",
    "softmax": "reference",
    "softmax_cross_entropy": "reference",
    # gradcheck
    "numerical_gradient": "gradcheck",
    "rel_error": "gradcheck",
    # modules
    "RNNCell": "modules",
    "RNN": "modules",
    # topologies
    "ManyToMany": "topologies",
    "ManyToOne": "topologies",
    "OneToMany": "topologies",
    "Seq2Seq": "topologies",
    "FEEDS": "topologies",
    # bptt
    "truncated_gradients": "bptt",
    "window_gradients": "bptt",
    "truncated_backward": "bptt",
    "Segment": "bptt",
    "tbptt_segments": "bptt",
    "Window": "bptt",
    "tbptt_windows": "bptt",
    "tbptt_gradients": "bptt",
    "to_streams": "bptt",
    "stream_batches": "bptt",
    "train_on_sequence": "bptt",
    "SavedTensorMeter": "bptt",
    # training
    "History": "training",
    "fit": "training",
    "default_loss": "training",
    "accuracy": "training",
    "grad_norm": "training",
    "clip_grad_norm_": "training",
    "clip_grad_value_": "training",
    "InverseSigmoidSchedule": "training",
    "LinearSchedule": "training",
    "ExponentialSchedule": "training",
    "schedule_values": "training",
    # gradients
    "activation_derivative": "gradients",
    "unroll": "gradients",
    "step_jacobians": "gradients",
    "rnn_weights": "gradients",
    "module_step_jacobians": "gradients",
    "autograd_step_jacobians": "gradients",
    "jacobian_products": "gradients",
    "spectral_norms": "gradients",
    "singular_values": "gradients",
    "hidden_gradients": "gradients",
    "gradient_norms_through_time": "gradients",
    "autograd_hidden_gradients": "gradients",
    "GradientDecomposition": "gradients",
    "gradient_decomposition": "gradients",
    "GradientBounds": "gradients",
    "gradient_flow_bounds": "gradients",
    "orthogonal_matrix": "gradients",
    "LagExperiment": "gradients",
    "gradient_norms_by_lag": "gradients",
    "ClippingResult": "gradients",
    "clipping_experiment": "gradients",
    "MODELS": "gradients",
    "make_rnn": "gradients",
    "ReachResult": "gradients",
    "reach_experiment": "gradients",
    "AddingResult": "gradients",
    "adding_experiment": "gradients",
    # sampling
    "greedy": "sampling",
    "top_k_filter": "sampling",
    "probabilities": "sampling",
    "entropy_bits": "sampling",
    "sample_next": "sampling",
    "sample": "sampling",
    # charlm
    "CharRNN": "charlm",
    "bits_per_char": "charlm",
    "unigram_entropy": "charlm",
    "unigram_bpc": "charlm",
    "evaluate_bpc": "charlm",
    "train_charlm": "charlm",
    "memory_decay": "charlm",
    # captioning
    "SHAPES": "captioning",
    "COLOURS": "captioning",
    "SIZES": "captioning",
    "POSITIONS": "captioning",
    "WORDS": "captioning",
    "Scenes": "captioning",
    "make_scenes": "captioning",
    "caption_text": "captioning",
    "encode_caption": "captioning",
    "decode_caption": "captioning",
    "CNNEncoder": "captioning",
    "Captioner": "captioning",
    "train_captioner": "captioning",
    "caption_accuracy": "captioning",
    "attribute_words": "captioning",
    "majority_word": "captioning",
    "fallback_rates": "captioning",
    # data
    "Vocab": "data",
    "load_corpus": "data",
    "train_val_split": "data",
    "copy_task": "data",
    "delayed_echo": "data",
    "parity": "data",
    "adding_problem": "data",
    "reverse_digits": "data",
    "counting": "data",
    "sine_waves": "data",
    # plots
    "TOPOLOGIES": "plots",
    "plot_unrolled": "plots",
    "plot_all_topologies": "plots",
    "plot_tbptt_segments": "plots",
    "plot_layer_grid": "plots",
    "plot_history": "plots",
    "plot_lines": "plots",
    "plot_heatmap": "plots",
    "plot_small_multiples": "plots",
    "plot_gradient_norms": "plots",
    "plot_memory_decay": "plots",
    "plot_char_distribution": "plots",
    "plot_scene_grid": "plots",
    # widgets
    "interactive_figure": "widgets",
    "static_grid": "widgets",
    "figure_to_png": "widgets",
    "gradient_flow_figure": "widgets",
    "gradient_flow_widget": "widgets",
    "scheduled_sampling_figure": "widgets",
    "scheduled_sampling_widget": "widgets",
    "temperature_figure": "widgets",
    "temperature_widget": "widgets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        if name in set(_EXPORTS.values()) | {"grade"}:
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'rnncourse' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
