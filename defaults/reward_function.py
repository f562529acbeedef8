"""Starter reward function for drfc.

The simulator calls ``reward_function(params)`` once per step and uses the
returned float as the reward for the action just taken. This sample only
encourages the car to stay near the centre line and to avoid sharp steering;
replace it with your own ideas.

``params`` is a dict filled by the simulator. This function reads:

    track_width (float)
        Width of the track at the car's position, in metres.
    distance_from_center (float)
        Distance in metres between the car and the centre line (never negative).
    steering_angle (float)
        Current steering angle in degrees; positive turns left, negative right.

Many more keys are available (``speed``, ``progress``, ``waypoints``,
``all_wheels_on_track``, ``is_offtrack`` and so on); see the AWS DeepRacer
documentation for the full list.
"""

# Bands around the centre line: (half-width as a fraction of the track width, reward).
# The first band that contains the car decides the reward.
CENTRE_BANDS = (
    (0.10, 1.0),
    (0.25, 0.5),
    (0.50, 0.1),
)

# Reward when the car is outside every band (close to or past the edge).
# Kept above zero so the trainer still gets a usable signal.
EDGE_REWARD = 1e-3

# Steering harder than this many degrees is discouraged...
STEERING_LIMIT_DEG = 15.0
# ...by multiplying the reward with this factor.
STEERING_FACTOR = 0.8


def reward_function(params):
    """Return the reward for the current step."""
    track_width = float(params["track_width"])
    offset = abs(float(params["distance_from_center"]))

    reward = EDGE_REWARD
    for fraction, band_reward in CENTRE_BANDS:
        if offset <= fraction * track_width:
            reward = band_reward
            break

    if abs(float(params["steering_angle"])) > STEERING_LIMIT_DEG:
        reward *= STEERING_FACTOR

    return float(reward)
