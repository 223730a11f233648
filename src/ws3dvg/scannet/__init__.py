"""ScanNet's raw formats and what is made of them: readers and writers, the label table, preprocessing
into one HDF5 file, and per-scene tables stacked for training."""
