"""Registry: participants, their buses and meters, and the chain's authorities
(DESIGN.md section 1: energy cells, the utility cell and the regulator).

``keeper`` owns prefix 0x03 and the read API other modules use
(``get_participant``, ``get_network``, ``get_meter``, ``meters_of``,
``get_authorities``, ``require_utility``); ``msgs`` the participant and
meter lifecycle; ``queries`` the mgrid.registry.v1.Query service;
``genesis`` the ``registry`` section of app_state.
"""
