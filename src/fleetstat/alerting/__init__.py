"""What a pass tells people: rules, alert states, silences, and the mails that carry them.

``rules`` reads a host's result against its rules and says what changed; ``notify``
turns that into queued notifications; ``silences`` holds what admins said of alerts;
``mail`` (with ``mailtext`` and ``mailtemplates``) delivers the queued ones.
"""
