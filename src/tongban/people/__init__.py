"""People: the clerk's pages to find a person in this node's registry and read their household and history."""
