"""Reading landmark data sets: list files, images, the crop cache."""
