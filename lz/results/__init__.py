"""What a job gives back: the walk of its work folder, changes against the manifest, the archive, and unpacking results for a user."""
