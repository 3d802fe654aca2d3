module github.com/ethos-imaging/ethos

go 1.26
