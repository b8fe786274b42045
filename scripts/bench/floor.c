/*
 * floor.c: the least work an export can do, the lower bound registry-rescue's export is compared with.
 *
 *   cc -O2 -o floor floor.c && ./floor <storage>/docker/registry/v2 <out>
 *
 * Single-threaded: walk repositories/ with readdir (a repository is a dir with _manifests/tags, `_`-dirs are
 * not descended), read each tag's current/link, read the manifest blob, find the digests it names with a tiny
 * scan for "digest": "sha256:<hex>" (an index's children are read and scanned the same way), mkdir the
 * layout dir <out>/<repo>:<tag>, link() manifest.json, <hex>, <hex>.manifest.json and a version file.
 * No validation (no hashing, no size checks, no JSON parsing, no staging and rename): not a tool, a floor.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char v2[4096], out[4096], version_path[4200];
static long tags_done, links_done;
static int version_gen;
static char buf[1 << 20];

static void die(const char *what, const char *path) {
  fprintf(stderr, "floor: %s %s: %s\n", what, path, strerror(errno));
  exit(1);
}

static void blob_path(char *dst, const char *hex) {
  sprintf(dst, "%s/blobs/sha256/%.2s/%.64s/data", v2, hex, hex);
}

/* Reads a whole small file into buf; returns its length. */
static ssize_t read_file(const char *p, char *dst, size_t cap) {
  int fd = open(p, O_RDONLY);
  if (fd < 0) die("open", p);
  ssize_t n = read(fd, dst, cap - 1);
  if (n < 0) die("read", p);
  close(fd);
  dst[n] = 0;
  return n;
}

static void link_or_die(const char *src, const char *dst) {
  if (link(src, dst) != 0 && errno != EEXIST) die("link", dst);
  links_done++;
}

/* A fresh version file every 60000 links: ext4's per-inode limit is 65000. */
static void new_version_file(void) {
  sprintf(version_path, "%s/.floor-version-%d", out, version_gen++);
  int fd = open(version_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("create", version_path);
  if (write(fd, "Directory Transport Version: 1.1\n", 33) != 33) die("write", version_path);
  close(fd);
}

/* Collects each 64-hex digest that follows a "digest" key; returns how many. */
static int scan_digests(const char *s, char hexes[][65], int max) {
  int n = 0;
  const char *p = s;
  while (n < max && (p = strstr(p, "\"digest\"")) != NULL) {
    p += 8;
    while (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t') p++;
    if (strncmp(p, "\"sha256:", 8) != 0) continue;
    memcpy(hexes[n], p + 8, 64);
    hexes[n][64] = 0;
    n++;
    p += 72;
  }
  return n;
}

static void export_tag(const char *repo, const char *tagsdir, const char *tag) {
  char p[8192], dst[8192], dir[8192], link_text[128];
  snprintf(p, sizeof p, "%s/%s/current/link", tagsdir, tag);
  if (read_file(p, link_text, sizeof link_text) < 71) return;
  const char *hex = link_text + 7;

  snprintf(dir, sizeof dir, "%s/%s:%s", out, repo, tag);
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) die("mkdir", dir);

  char mpath[8192];
  blob_path(mpath, hex);
  read_file(mpath, buf, sizeof buf);
  snprintf(dst, sizeof dst, "%s/manifest.json", dir);
  link_or_die(mpath, dst);

  static char digests[512][65];
  int n = scan_digests(buf, digests, 512);
  int is_index = strstr(buf, "\"manifests\"") != NULL;
  for (int i = 0; i < n; i++) {
    blob_path(p, digests[i]);
    if (!is_index) {
      snprintf(dst, sizeof dst, "%s/%s", dir, digests[i]);
      link_or_die(p, dst);
      continue;
    }
    snprintf(dst, sizeof dst, "%s/%s.manifest.json", dir, digests[i]);
    link_or_die(p, dst);
    static char child[1 << 20];
    static char cdigests[512][65];
    read_file(p, child, sizeof child);
    int cn = scan_digests(child, cdigests, 512);
    for (int j = 0; j < cn; j++) {
      blob_path(p, cdigests[j]);
      snprintf(dst, sizeof dst, "%s/%s", dir, cdigests[j]);
      link_or_die(p, dst);
    }
  }
  snprintf(dst, sizeof dst, "%s/version", dir);
  if (link(version_path, dst) != 0) {
    if (errno == EMLINK) {
      new_version_file();
      link_or_die(version_path, dst);
    } else if (errno != EEXIST) die("link", dst);
  }
  if (links_done > 60000L * version_gen) new_version_file();
  tags_done++;
}

/* mkdir -p of <out>/<repo>'s parent dirs. */
static void make_parents(const char *repo) {
  char p[8192];
  snprintf(p, sizeof p, "%s/%s", out, repo);
  for (char *s = p + strlen(out) + 1; (s = strchr(s, '/')) != NULL; s++) {
    *s = 0;
    if (mkdir(p, 0755) != 0 && errno != EEXIST) die("mkdir", p);
    *s = '/';
  }
}

/* rel = repository path under repositories/ ("" at the top). */
static void walk(const char *abs, const char *rel) {
  DIR *d = opendir(abs);
  if (!d) die("opendir", abs);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    char sub[8192], subrel[8192];
    snprintf(sub, sizeof sub, "%s/%s", abs, e->d_name);
    if (strcmp(e->d_name, "_manifests") == 0) {
      char tagsdir[8192];
      snprintf(tagsdir, sizeof tagsdir, "%s/tags", sub);
      DIR *t = opendir(tagsdir);
      if (!t) continue;
      make_parents(rel);
      struct dirent *te;
      while ((te = readdir(t)) != NULL) {
        if (te->d_name[0] == '.') continue;
        export_tag(rel, tagsdir, te->d_name);
      }
      closedir(t);
      continue;
    }
    if (e->d_name[0] == '_') continue;
    if (rel[0]) snprintf(subrel, sizeof subrel, "%s/%s", rel, e->d_name);
    else snprintf(subrel, sizeof subrel, "%s", e->d_name);
    walk(sub, subrel);
  }
  closedir(d);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: floor <storage>/docker/registry/v2 <out>\n");
    return 2;
  }
  snprintf(v2, sizeof v2, "%s", argv[1]);
  snprintf(out, sizeof out, "%s", argv[2]);
  if (mkdir(out, 0755) != 0 && errno != EEXIST) die("mkdir", out);
  new_version_file();
  char repos[8192];
  snprintf(repos, sizeof repos, "%s/repositories", v2);
  walk(repos, "");
  fprintf(stderr, "floor: %ld tags, %ld links\n", tags_done, links_done);
  return 0;
}
