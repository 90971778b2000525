"""`hazardwatch bench`: how many cameras this box carries, and the references it is judged by."""
