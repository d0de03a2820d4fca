"""Input and output image files, at paths derived only from the job id and the file's role."""
