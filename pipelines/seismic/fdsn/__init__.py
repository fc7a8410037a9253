"""FDSN queries over the stores: which streams a request names (`select`), their samples as
streamed miniSEED (`dataselect`), their metadata as StationXML or text (`station`) and their
segment lists as availability (`availability`). The HTTP layer is dashboard/webservices."""
