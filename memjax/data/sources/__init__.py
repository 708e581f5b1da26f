"""One module per :class:`~memjax.data.types.Source` kind, each with ``read(source, config, download) ->
(arrays, num_classes)`` (the table is :data:`memjax.data.loaders.LOADERS`): :mod:`.digits`, :mod:`.npz`,
:mod:`.tfds` (tfds is imported only inside it, when a tfds source is read), :mod:`.folder` and :mod:`.table`
(the user's own images and csv tables)."""
