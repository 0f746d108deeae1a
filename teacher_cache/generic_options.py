"""Options that work on any layout, as JAX functions of memory maps uint8[H, W, 4, B] (batch-last).

One breadth-first search per map (`options.go_to_search`, bit-packed along the batch) serves every
option, on the map as a path may cross it (`passable`): closed doors count as open, for a path opens
them on its way (toggle when the next step would enter one), and lava counts as wall. It finds the
fewest steps to face each noun of the task, an unseen cell (exploring), and a free cell away from
doors (dropping). With navix's dynamics (pickup overwrites the pocket, unlocking consumes the key,
toggle never closes a door):

- *go to X*: towards the nearest cell showing X, toggling closed doors on the way; done facing X (the
  goal is walked into instead), or when X is not seen or cannot be reached;
- *explore*: towards the nearest state facing an unseen cell, or a key, ball or box beside one (the view
  sees through them: a door behind a ball in a doorway is seen so); done when there is none;
- *pick up X*: go to X, then pickup; done when holding X. Holding a key, it drops the key first (a key
  is needed until its door opens, which consumes it); anything else held is picked up over, as navix
  does (holding the mission's box or ball would have ended the episode, so what is held is an obstacle);
- *drop X*: drop onto the free cell in front, going to the nearest one away from doors (none of its four
  neighbours a door) first; done when not holding X;
- *open X*: go to X, then toggle; done when X is open, gone, unreachable, or locked without its key in
  hand. A locked door with an unseen cell beside it is preferred to one without (KeyCorridor shows
  unopenable doors as locked: the one that leads somewhere unseen is the likelier);
- *wait*: done (action 6), never finished.

Moving a ball out of a doorway is two rows of a table, not an option: seeing the ball, *pick up* it;
holding it, *drop* it (away from doors). A plan's action is that of its first option not done
(`options.plan_actions`); the verbs are those of `plans.ALL_VERBS`, in its order.
"""

import jax
import jax.numpy as jnp

from envs import codes
from teacher_cache.options import MAX_STEPS, fold_or, go_to_search
from teacher_cache.plans import ALL_VERBS, DROP, EXPLORE, GO_TO, OPEN, PICK_UP, WAIT
from teacher_cache.situations import at_agent
from teacher_cache.task_vocabulary import Sight, TaskVocabulary, neighbours

# Rows of the option table: the verbs of our three tasks' tables, in their order.
VERBS = ALL_VERBS
TAKES_NO_OBJECT = (EXPLORE, WAIT)


def passable(maps: jax.Array) -> jax.Array:
    """The maps as `options.enterable` should read them for a path: closed (unlocked) doors shown open,
    lava shown as wall."""
    obj, state = maps[:, :, 0], maps[:, :, 2]
    closed_door = (obj == codes.DOOR) & (state == codes.CLOSED)
    obj = jnp.where(obj == codes.LAVA, jnp.uint8(codes.WALL), obj)
    state = jnp.where(closed_door, jnp.uint8(codes.OPEN), state)
    return jnp.stack([obj, maps[:, :, 1], state, maps[:, :, 3]], axis=2)


def ahead(maps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(object, state) int32[B] of the cell in front of the agent (the agent never stands on the border)."""
    height, width, _, batch = maps.shape
    agent = at_agent(maps)
    place = jnp.arange(height * width, dtype=jnp.int32).reshape(height, width, 1)
    cell = jnp.where(agent, place, 0).max(axis=(0, 1))
    direction = jnp.where(agent, maps[:, :, 3], 0).max(axis=(0, 1)).astype(jnp.int32)
    step = jnp.asarray(codes.DIRECTION_VECTORS[:, 1] * width + codes.DIRECTION_VECTORS[:, 0])[direction]
    index = (cell + step)[None]
    flat = maps.reshape(height * width, 4, batch)
    obj = jnp.take_along_axis(flat[:, 0], index, axis=0)[0]
    state = jnp.take_along_axis(flat[:, 2], index, axis=0)[0]
    return obj.astype(jnp.int32), state.astype(jnp.int32)


def drop_spots(maps: jax.Array, sight: Sight) -> jax.Array:
    """bool[H, W, B]: seen empty cells, not the agent's, with no door beside them: where a dropped object
    blocks no door."""
    return (maps[:, :, 0] == codes.EMPTY) & ~at_agent(maps) & ~sight.near_door


def prefer_unexplored(cells: jax.Array, unseen: jax.Array) -> jax.Array:
    """`cells` with an unseen cell beside them, in the maps that have any; all of `cells` in the others."""
    leading = cells & neighbours(unseen)
    return jnp.where(fold_or(leading, 2), leading, cells)


def option_table(vocab: TaskVocabulary, sight: Sight, maps: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(action int32[V, N + 1, B], done bool[V, N + 1, B]) of every option (verb of `VERBS`, noun of
    `vocab.nouns`; the last column is no object). An option that is done hands over to the next one of its
    plan; one that is not done acts."""
    batch = maps.shape[-1]
    obj = maps[:, :, 0]
    unseen = obj == codes.UNSEEN
    see_through = (obj == codes.KEY) | (obj == codes.BALL) | (obj == codes.BOX)
    frontier = unseen | (see_through & ~at_agent(maps) & neighbours(unseen))
    targets = [prefer_unexplored(cells, unseen) if noun.name == "locked door" else cells
               for noun, cells in zip(vocab.nouns, sight.cells)]
    steps, first = go_to_search(passable(maps), tuple(targets) + (frontier, drop_spots(maps, sight)))
    reachable, facing = steps < MAX_STEPS, steps == 0
    ahead_object, ahead_state = ahead(maps)
    door_ahead = (ahead_object == codes.DOOR) & (ahead_state == codes.CLOSED)

    def towards(t):  # the first action of a shortest path to target t, opening a closed door in its way
        return jnp.where((first[t] == codes.FORWARD) & door_ahead & ~facing[t], codes.TOGGLE, first[t])

    edge, spot = len(targets), len(targets) + 1
    explore_action, explore_done = towards(edge), ~reachable[edge]
    drop_action = jnp.where(facing[spot] | ~reachable[spot], codes.DROP, towards(spot))
    holding_key = sight.held == codes.KEY
    never, always = jnp.zeros(batch, bool), jnp.ones(batch, bool)
    wait = jnp.full(batch, codes.DONE, jnp.int32)

    actions, done = [], []
    for t, (noun, cells, seen) in enumerate(zip(vocab.nouns, sight.cells, sight.seen)):
        out_of_reach = (seen == 0) | ~reachable[t]
        held = sight.held == noun.kind
        # Holding a key, drop it before picking up anything else (navix would overwrite it).
        take = jnp.where(holding_key & (noun.kind != codes.KEY), drop_action,
                         jnp.where(facing[t], codes.PICKUP, towards(t)))
        holdable = noun.kind in vocab.holdable
        if noun.kind == codes.DOOR:
            colour = jnp.where(cells, maps[:, :, 1], 0).max(axis=(0, 1))
            state = jnp.where(cells, maps[:, :, 2], 0).max(axis=(0, 1))
            fits = holding_key & (sight.held_colour == colour)
            openable = (state == codes.CLOSED) | ((state == codes.LOCKED) & fits)
        else:
            openable = jnp.full(batch, noun.kind == codes.BOX)
        row = {
            EXPLORE: (explore_action, explore_done),
            GO_TO: (towards(t), out_of_reach | (facing[t] & (noun.kind != codes.GOAL))),
            PICK_UP: (take, held | out_of_reach) if holdable else (wait, always),
            DROP: (drop_action, ~held) if holdable else (wait, always),
            OPEN: (jnp.where(facing[t], codes.TOGGLE, towards(t)), out_of_reach | ~openable),
            WAIT: (wait, never),
        }
        actions.append([row[verb][0] for verb in VERBS])
        done.append([row[verb][1] for verb in VERBS])
    no_object = {EXPLORE: (explore_action, explore_done), WAIT: (wait, never)}
    actions.append([no_object.get(verb, (wait, always))[0] for verb in VERBS])
    done.append([no_object.get(verb, (wait, always))[1] for verb in VERBS])
    action_table = jnp.stack([jnp.stack(column) for column in actions], axis=1).astype(jnp.int32)
    done_table = jnp.stack([jnp.stack(column) for column in done], axis=1)
    return action_table, done_table
