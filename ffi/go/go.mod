module portcullis.invalid/portcullis

go 1.19
