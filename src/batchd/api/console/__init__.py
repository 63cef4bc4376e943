"""The web console at /console: server-rendered pages over the services the two APIs use.

Writes go through the Batch API's handlers (parsed by its request models) and the CMQ actions,
so a form is checked by the same rules and fails with the same code and message as the API.
"""
