DROP INDEX messages_recent;
