// d4-admin: placeholder replaced below.
int main() { return 0; }
