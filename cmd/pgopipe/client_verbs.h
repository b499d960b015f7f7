/*
 * client_verbs.h — the pgopipe verbs that talk to a pgopipe server
 * (client.c): upload, download, list, delete, clean. Same shape as the
 * other verbs (cli.h): `int verb(int argc, char **argv)`, argv[0] = the
 * verb's name, returns the exit status 0 / 1 / 2.
 *
 * Shared options: -u/--api-url URL (env PGOPIPE_API_URL, default
 * http://localhost:8080), --auth-token-file F (or env PGOPIPE_AUTH_TOKEN).
 */
#ifndef PGOPIPE_CLIENT_VERBS_H
#define PGOPIPE_CLIENT_VERBS_H

int cli_upload(int argc, char **argv);
int cli_download(int argc, char **argv);
int cli_list(int argc, char **argv);
int cli_delete(int argc, char **argv);
int cli_clean(int argc, char **argv);

#endif
