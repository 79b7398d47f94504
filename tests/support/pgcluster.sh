#!/bin/sh
echo "pgcluster: not yet"
