"""MiniGrid's integer codes for objects, colours, door states, directions and actions.

Observations and the world grid of our tasks store cells as MiniGrid's
(object, colour, state) triples, so these numbers are part of the public format.
"""

import numpy as np

# Objects (channel 0).
UNSEEN = 0
EMPTY = 1
WALL = 2
FLOOR = 3
DOOR = 4
KEY = 5
BALL = 6
BOX = 7
GOAL = 8
LAVA = 9
AGENT = 10
OBJECT_NAMES = ("unseen", "empty", "wall", "floor", "door", "key", "ball", "box", "goal", "lava", "agent")

# Colours (channel 1), in MiniGrid's (and navix's) order.
COLOUR_NAMES = ("red", "green", "blue", "purple", "yellow", "grey")
RED, GREEN, BLUE, PURPLE, YELLOW, GREY = range(6)

# Door states (channel 2).
OPEN = 0
CLOSED = 1
LOCKED = 2
DOOR_STATE_NAMES = ("open", "closed", "locked")

# Agent directions (channel 3 at the agent's cell; 4 elsewhere).
EAST, SOUTH, WEST, NORTH = range(4)
NO_DIRECTION = 4
DIRECTION_NAMES = ("east", "south", "west", "north")
# (dx, dy) of one step forward for each direction; y grows downwards.
DIRECTION_VECTORS = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], dtype=np.int32)

# MiniGrid's seven actions.
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)
ACTION_NAMES = ("left", "right", "forward", "pickup", "drop", "toggle", "done")
NUM_ACTIONS = 7


# Categories per channel of our memory map (object, colour, door state, direction).
MEMORY_MAP_CATEGORIES = (len(OBJECT_NAMES), len(COLOUR_NAMES), len(DOOR_STATE_NAMES), NO_DIRECTION + 1)
