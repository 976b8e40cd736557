"""rnncourse: the small library of an executable course on recurrent neural networks.

Import the module a chapter uses, e.g. ``from rnncourse import reference``. One concept per module, with the
chapters that use it:

- ``reference``: numpy forward/backward pairs: vanilla RNN, LSTM, GRU, embedding, output layer, softmax (1, 3,
  4, 7, 8, 11)
- ``gradcheck``: central-difference gradients and the relative error (3)
- ``modules``: torch RNN, LSTM and GRU cells and the multilayer ``RNN``, explicit loops over time (1, 7-11)
- ``topologies``: many-to-many, many-to-one, one-to-many (the one decoder), encoder-decoder (2, 5-8, 11)
- ``training``: the one training loop ``fit``, batch sources, losses, clipping, teacher forcing (2, 4, 6-9)
- ``bptt``: truncated backpropagation through time, stream windows (7)
- ``gradients``: step Jacobians, their products and norms, the bounds (7, 9, 10)
- ``sampling``: greedy, temperature, top-k and beam decoding with the decoder's ``step`` (4, 5)
- ``charlm``: the character language model and bits per character (4)
- ``captioning``: generated scenes, a CNN encoder feeding the one-to-many decoder (5)
- ``data``: synthetic tasks, ``Vocab`` and the offline corpus (2, 4, 6, 7, 9)
- ``plots``: figures shared by several chapters (all)
- ``widgets``: interactives: a live widget in Jupyter, pre-rendered frames in the book (1, 4, 6, 9, 10)
- ``grade``: the ``expect_*`` checks of the exercises (bulk grading is ``python -m rnncourse_grading``)

Importing the package itself is cheap: it imports no submodule (so neither torch nor matplotlib).
"""

__version__ = "0.1.0"
