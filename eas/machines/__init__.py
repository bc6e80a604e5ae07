"""The protocol's state machines, one module each, as tables.

Every module opens with its rules in words and then states them once as data:
`(state, input) -> (action, next)`, in the manner of h11's `_state.py` and h2's stream machine.
Storage and the server execute the actions; they never decide a transition themselves.
"""
