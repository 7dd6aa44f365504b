package dockertag
