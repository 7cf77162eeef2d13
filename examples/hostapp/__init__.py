"""hostapp: the trusted host application of the sdk_guard demo.

Extensions may import only ``hostapp.sdk`` (public); ``hostapp.db`` is private.
"""
