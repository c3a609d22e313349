"""The output layer, from the task's head (see tasks.head_for)."""

import keras

from autosearch.tasks import Head


def add_head(x, head: Head):
    return keras.layers.Dense(head.units, activation=head.activation, name="head")(x)
