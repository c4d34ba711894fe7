"""The Node API's wire models: the states jobs and ops go through, and the views the node serves."""
